"""Loaded by every tier: the cluster tiers' plugin (fixtures that start nothing until a test asks
for them, and each tier's marker) and the local HTTPS servers' certificate. Here, at the top,
because pytest takes `pytest_plugins` only from the conftest of the folder it starts in or
above."""

pytest_plugins = ["tests.support.cluster", "tests.support.tls"]
