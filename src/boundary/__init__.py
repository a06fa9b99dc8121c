"""Where a validated config meets ms-swift: its argument objects built and guarded (`arguments.py`, used by
every recipe before weights load) and the offline build `validate --deep` runs (`deep_check.py`, in a
child process of the config tools, so `src/config` never imports ms-swift or torch)."""
