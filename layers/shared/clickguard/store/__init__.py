"""Data access: the only modules that talk to AWS. Clients are passed in, so tests hand them moto-backed ones."""
