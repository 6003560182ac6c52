"""« Actions sur la sélection » of the Commandes list: the selection (selection), the jobs that
carry an action out in the background (jobs), what each action does to one order (actions), and
the export's files (export)."""
