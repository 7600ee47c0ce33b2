"""Reading pages and walking histories: a list endpoint's pages as values (paging), one account's
run list as every walk needs it (lister), the choice of walk and the walks (walks/), the
authoritative reads that confirm open rows (confirm), and the reads of runs' steps (steps)."""
