"""The terminal as a platform ("cli"): ``todobot chat``'s console (:mod:`.console`), the sender
that prints outbox rows addressed to a terminal there — reminders of tasks made in the chat,
with their buttons as phrases to type (:mod:`.sender`) — and the background sweep that makes
them fall due while the prompt waits (:mod:`.sweeper`)."""
