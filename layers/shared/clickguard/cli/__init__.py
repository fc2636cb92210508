"""The ``clickguard`` command line. Not shipped in the Lambda layer."""
