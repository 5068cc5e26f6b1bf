"""Load tests of an HES login: thousands of simulated keys signing in over HTTP, on Locust.

- :mod:`~keybridge.loadtest.provision`: N accounts with 2FA on in an HES store and, for each,
  a simulated key's state file holding the account's secret and the load generator's pairing.
- :mod:`~keybridge.loadtest.keys`: the keys dir (manifest, accounts, state files) and the
  in-process key a load user owns.
- :mod:`~keybridge.loadtest.locustfile`: the Locust ``User`` (imports locust, which
  monkey-patches the standard library with gevent: only Locust's own processes load it).
- :mod:`~keybridge.loadtest.runner`: a master and W workers as local processes, and their
  summary.

Nothing here but the locustfile imports locust.
"""
