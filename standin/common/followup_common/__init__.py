"""随访系统替身的公共代码 Shared code of the stand-in follow-up system components.

The release builder copies this package into each component directory, so every component of a release
carries its own copy and runs with only the standard library, PyMySQL and pymongo.
"""
