"""The provider service: verifies orders on chain and releases content keys (see ``app.create_app``)."""
