from tapelint.cli import main

raise SystemExit(main())
