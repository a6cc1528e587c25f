from intuitivus_flow.cli import main

main()
