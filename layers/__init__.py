"""Lambda layer sources: ``shared/clickguard`` (the package) and ``build_layer.py`` (the Docker-free build)."""
