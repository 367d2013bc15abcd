# Turns a text file into a C++ source defining tanpu::http::openapi_document(). The size is given
# with the literal (sizeof), so no constexpr strlen walks the document: that has a loop limit.
file(READ ${IN} content)
set(delim "tanpu_embed")
file(WRITE ${OUT} "#include <string_view>\nnamespace tanpu::http {\nnamespace {\nconstexpr char kDocument[] = R\"${delim}(${content})${delim}\";\n}  // namespace\nstd::string_view openapi_document() {\n  return {kDocument, sizeof kDocument - 1};\n}\n}  // namespace tanpu::http\n")
