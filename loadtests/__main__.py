from loadtests.runner import main

raise SystemExit(main())
