"""Purchases far above the buyer's social network (seed 003): the rule, its bounded state and the streaming step.

Pure logic, no AWS: ``step`` applies purchase / befriend / unfriend events to the state behind the ``ports``
protocol (``memory`` in process, ``clickguard.store.network`` on DynamoDB) and returns the flags and the writes;
``commit`` sends the flags, then writes. The file mode (``challenge``, ``clickguard network``) and the consumer
drive the same step.
"""
