"""bulkhead's tests: a package so that every tier (and bench/) imports tests.support."""
