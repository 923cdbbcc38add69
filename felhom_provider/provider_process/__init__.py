"""Plumbing of the dynamic-provider process (the one Pulumi starts as ``python -m
pulumi.dynamic``), kept apart from the resources it serves, one concern per module:

- ``engine_log``: the engine's address and its Log RPC (step lines shown in ``pulumi up``);
- ``watchdog``: end the process when the engine that started it is gone;
- ``failure``: one clean, masked message per failed resource instead of a traceback.
"""
