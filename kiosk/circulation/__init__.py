"""Pure circulation rules: no Flask, no database, the time passed in."""
