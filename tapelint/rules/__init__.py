"""Built-in rules, one module each (``tlNNN_rule_name.py``), found by ``tapelint.registry``."""
