from socialdesk.cli import main

main()
