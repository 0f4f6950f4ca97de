"""One search engine for the kiosk, the OPAC and the console: titles (and, at the console, students)."""
