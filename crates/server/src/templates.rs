//! All templates, compiled into the binary and parsed once at start-up.

use tera::Tera;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

pub fn load() -> Result<Tera, tera::Error> {
    let mut tera = Tera::default();
    tera.add_raw_templates(templates![
        "pages/base.html",
        "pages/error.html",
        "pages/login.html",
        "pages/code.html",
        "pages/code_dead.html",
        "pages/link.html",
        "pages/link_elsewhere.html",
        "pages/outbox.html",
        "pages/demo.html",
        "pages/form_post.html",
        "pages/logout.html",
        "email/sign_in.txt",
        "email/sign_in.html",
        "email/no_account.txt",
        "email/no_account.html",
    ])?;
    Ok(tera)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        super::load().unwrap();
    }
}
