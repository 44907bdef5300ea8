"""What people read: terminal tables and the live line, Markdown and JSON reports, figures, and the
atomic writer every file of a run goes through."""
