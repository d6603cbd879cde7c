"""Microsoft Graph (Microsoft 365 / Outlook.com): the sync engine's second provider adapter."""
