"""The domain layer: every rule about what may be written, and the one write path. Each public
function takes a session and the business it acts for, so every query is scoped to a tenant."""
