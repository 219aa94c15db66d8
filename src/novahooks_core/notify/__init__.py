"""The notification adapter (Nova 22 and later have no hooks): Nova's
versioned notifications become the same events hook calls give.

One job per module: ``message`` reads a Nova or Neutron message once
(its family decided there); ``mapping`` turns a notification into events
(pure) and ``neutron`` a Neutron one into facts; ``guard`` keeps each
instance's effects in order across redeliveries, requeues and listeners
(``facts``: what it and ``neutron`` share); ``endpoint`` handles one
message at a time and ``batch`` a batch at once; ``parking`` keeps the
retry and failed journals; ``runtime`` is the ``novahooks listen``
process on oslo.messaging (threads, signals, status, metrics);
``transport`` checks brokers; ``options`` holds ``[listen]``.
``listener`` keeps the public names of all of them.
"""
