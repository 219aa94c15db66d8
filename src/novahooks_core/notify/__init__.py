"""The notification adapter (Nova 22 and later have no hooks): Nova's
versioned notifications become the same events hook calls give.

``mapping`` turns a notification into events (pure); ``guard`` keeps each
instance's effects in order across redeliveries, requeues and listeners;
``listener`` is ``novahooks listen`` on oslo.messaging.
"""
