"""An aiosmtpd handler that refuses every recipient for good (550), as a smarthost does
for an address it knows does not exist: the notify tests check that such a mail stays
in pecd's outbox and is tried again, never dropped as if it had been sent."""


class RefuseRecipients:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 <%s>: recipient unknown" % address
