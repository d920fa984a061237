"""Job entry points, one module per area; each opens and commits its own transactions.

Imports run one way: routes, the CLI and the worker call these; these call
`app.domain`, which only flushes; the domain uses the infrastructure (`app.jobs`,
`app.sms`, `app.models`, `app.extensions`, `app.config`). Every job takes ids, not
objects, and is safe to run twice.
"""
