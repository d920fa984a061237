"""The outbox: every outbound text is a Message row first, then a send.

Lifecycle of an outbound row (see docs/broadcasts.md for the guarantees):

    queued --claim--> sending --Twilio accepts--> sent --callback--> delivered | undelivered
       ^                 |  \\--429/5xx/connection--> queued (next_attempt_at, backoff)
       |                 |   \\--21610--> skipped (member blocked by the carrier)
       |                 |    \\--21211, 21614, other 4xx--> failed (error_code, failed_reason)
       \\--lease expired, no sid (the sweeper)--/
    queued --member opted out, blocked or erased / broadcast cancelled--> skipped
    queued --the member's welcome text still ahead--> queued (waits WELCOME_WAIT)

The modules here are the steps, each flushed and never committed: `status` (the
forward-only ranks), `quiet` (quiet hours), `queue` (adding texts, finding due ones),
`claims` (claim, re-check, record Twilio's answer) and `recovery` (taking back the
claims of a dead worker). The jobs that run them, committing between steps, and the
thread-pool sender live in `app.tasks`.
"""
