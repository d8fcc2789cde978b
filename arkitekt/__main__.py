from arkitekt.cli import main

main()
