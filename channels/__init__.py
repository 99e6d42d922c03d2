"""Channel adapters: one module per provider, one protocol, one error tree.

``base`` (messages, receipts, inbound events, the ``Channel`` protocol), ``errors``,
``settings``; adapters ``sendgrid`` (+ ``sendgrid_webhooks``), ``twilio``, ``file``,
``memory``; ``registry`` (built-ins and the ``nurture.channels`` entry points);
``retry`` (bounded, retried batches); ``transport`` (the pooled httpx client);
``quoting`` (reply text without its history); ``testing`` (the fake provider).
Nothing is imported here, so ``import channels.base`` stays light.
"""
