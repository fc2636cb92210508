"""CDK (Python) infrastructure of clickguard: ``python -m infra.app`` is the app cdk.json runs."""
