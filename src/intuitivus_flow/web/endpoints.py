from fastapi import FastAPI
def install_web(app: FastAPI) -> None:
    pass
