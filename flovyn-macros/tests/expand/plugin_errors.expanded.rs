pub struct Bad;
::core::compile_error! {
    "unknown key `colour` in `#[flovyn_plugin]`: expected one of: `name`, `version`, `description`, `depends_on`, `config`, `events`"
}
::core::compile_error! {
    "plugin name `Bad_Name` is not kebab-case: use lowercase ASCII letters, digits and single `-` between words, starting with a letter; did you mean `bad-name`?"
}
