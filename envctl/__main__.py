from envctl.cli.app import main

main()
