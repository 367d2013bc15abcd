# Turns a text file into a C++ source defining tanpu::http::openapi_document().
file(READ ${IN} content)
set(delim "tanpu_embed")
file(WRITE ${OUT} "#include <string_view>\nnamespace tanpu::http {\nstd::string_view openapi_document() {\n  static constexpr std::string_view doc = R\"${delim}(${content})${delim}\";\n  return doc;\n}\n}  // namespace tanpu::http\n")
