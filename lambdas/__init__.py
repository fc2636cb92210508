"""Lambda function code; each subdirectory is one function's asset (it imports only ``clickguard`` and libraries)."""
