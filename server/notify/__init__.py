"""Telling people about sync health: e-mail to a business's admins over SMTP (mail.py) and
signed events to the booking system's webhook (webhook.py). What to tell and when is the
notifier's (server/sync/alerts.py)."""
