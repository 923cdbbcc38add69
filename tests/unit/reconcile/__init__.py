"""Unit tests of the bring-up engine: pure planning, the journal, rollback with fakes."""
