import setuptools

setuptools.setup(setup_requires=['pbr>=5.4.5'], pbr=True)
