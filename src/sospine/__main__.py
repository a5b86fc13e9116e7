from sospine.cli import main

raise SystemExit(main())
