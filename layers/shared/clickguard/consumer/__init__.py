"""The streaming consumer's pure logic: Kinesis batch in, session states, flags and a checkpoint out.

Nothing here imports boto3: data access arrives as injected objects (``clickguard.store``), so the whole batch
path runs in unit tests against fakes and in the bench against recording fakes.
"""
