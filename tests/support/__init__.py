"""What the test tiers and the benchmark share, so that no test module imports another.

fakes, factories  the unit tier: API-server fakes, a valid BatchJob spec to start from
cli_objects       BatchJob and Dependency objects as `kubectl bulkhead` reads them
kube              kubectl and helm through subprocess, polling with a timeout
objects           BatchJob and Dependency manifests, and reading back what the operator wrote
sampler           the Jobs active at once in a namespace, sampled while a test runs
signal            a health signal served by the test, and a Dependency health spec on it
operator          the operator as a real process (`python -m bulkhead`)
audit             the operator's requests, counted from the API server's audit log; percentiles
ports             a free loopback port
cloudevents       CloudEvents POSTed to the operator's endpoint, and tokens allowed to send them
rabbitmq          a private RabbitMQ node on loopback, and its queues driven through the
                  management API (declare, publish, consume, depth)
cluster           the pytest plugin of the cluster tiers (tests/conftest.py loads it): the
                  `cluster`, `namespace` and `operator_kubeconfig` fixtures, and each tier's
                  marker (e2e, faults, helm) on the tests in its folder
"""
