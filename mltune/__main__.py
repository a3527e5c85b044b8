from mltune.cli import main

main()
