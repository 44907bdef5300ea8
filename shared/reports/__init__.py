"""What people read: the typed result rows and their JSON, terminal tables and the live line,
Markdown reports, figures, and the atomic writer every file of a run goes through."""
