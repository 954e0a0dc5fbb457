//! A GraphQL schema's types, and the check of an operation against them.
//!
//! The code generator checks each operation in `graphql/` before graphql_client sees it, and
//! the local server (`testing`) checks every request it is sent. graphql_client resolves field
//! names but not argument names or variable types, and it panics on some mistakes. This check
//! covers what an operation in `graphql/` can get wrong when Plain's schema changes: unknown
//! types, fields, arguments and fragments, variables whose type does not fit the argument, and
//! selections on leaf or composite types. Every message names the field and the type, with the
//! position in the operation file.

use std::collections::{BTreeMap, BTreeSet};

use graphql_parser::query as q;
use graphql_parser::schema as s;
use graphql_parser::Pos;

const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

/// What kind of type a schema name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A scalar, built in or declared.
    Scalar,
    /// An object type.
    Object,
    /// An interface.
    Interface,
    /// A union.
    Union,
    /// An enum.
    Enum,
    /// An input object.
    InputObject,
}

/// A field of an object or interface, or an argument or input field.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// The field's name.
    pub name: String,
    /// Its type as written in the schema (`[String!]!`).
    pub ty: s::Type<'static, String>,
    /// Its arguments (empty for input fields).
    pub args: Vec<FieldDef>,
    /// Whether it has a default value (arguments and input fields).
    pub has_default: bool,
    /// The default value as written in the schema, when it has one.
    pub default: Option<String>,
    /// The deprecation reason, when deprecated.
    pub deprecated: Option<String>,
}

/// A named type of the schema.
#[derive(Debug, Clone)]
pub struct TypeDef {
    /// What kind of type it is.
    pub kind: Kind,
    /// Fields (objects, interfaces) or input fields (input objects), in schema order.
    pub fields: Vec<FieldDef>,
    /// Enum values, in schema order.
    pub values: Vec<String>,
    /// The deprecated enum values, with the reason.
    pub deprecated_values: BTreeMap<String, String>,
    /// Member types (unions) or implementations (interfaces).
    pub possible: BTreeSet<String>,
}

/// A schema indexed by type name.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Every named type, built-in scalars included.
    pub types: BTreeMap<String, TypeDef>,
    /// The root type of queries.
    pub query: String,
    /// The root type of mutations.
    pub mutation: String,
    /// The root type of subscriptions.
    pub subscription: String,
}

/// A variable of a checked operation.
#[derive(Debug, Clone)]
pub struct VariableInfo {
    /// Its name, without `$`.
    pub name: String,
    /// The name of its type, without list or non-null wrappers.
    pub type_name: String,
    /// Whether that type is an input object.
    pub is_input_object: bool,
}

/// What a successful check learnt about an operation file.
#[derive(Debug, Clone, Default)]
pub struct OperationInfo {
    /// The variables of the operation, in order.
    pub variables: Vec<VariableInfo>,
    /// Every `Type.field` the operation selects.
    pub selected: BTreeSet<(String, String)>,
    /// The selected fields that the schema marks deprecated, with the reason.
    pub deprecated: BTreeMap<(String, String), String>,
    /// Each fragment of the file, with the type it applies to.
    pub fragments: BTreeMap<String, String>,
    /// The name of the file's operation (of its last one, if it has several).
    pub name: String,
    /// The root type that operation starts from: the schema's query or mutation type.
    pub root: String,
}

fn deprecation(directives: &[s::Directive<'static, String>]) -> Option<String> {
    let directive = directives.iter().find(|d| d.name == "deprecated")?;
    let reason = directive
        .arguments
        .iter()
        .find(|(name, _)| name == "reason")
        .and_then(|(_, value)| match value {
            s::Value::String(reason) => Some(reason.clone()),
            _ => None,
        });
    Some(reason.unwrap_or_else(|| "No longer supported".to_owned()))
}

fn input_value(v: &s::InputValue<'static, String>) -> FieldDef {
    FieldDef {
        name: v.name.clone(),
        ty: v.value_type.clone(),
        args: Vec::new(),
        has_default: v.default_value.is_some(),
        default: v.default_value.as_ref().map(ToString::to_string),
        deprecated: deprecation(&v.directives),
    }
}

fn field(f: &s::Field<'static, String>) -> FieldDef {
    FieldDef {
        name: f.name.clone(),
        ty: f.field_type.clone(),
        args: f.arguments.iter().map(input_value).collect(),
        has_default: false,
        default: None,
        deprecated: deprecation(&f.directives),
    }
}

fn type_def(kind: Kind) -> TypeDef {
    TypeDef {
        kind,
        fields: Vec::new(),
        values: Vec::new(),
        deprecated_values: BTreeMap::new(),
        possible: BTreeSet::new(),
    }
}

/// Parses SDL into a [`Schema`].
pub fn parse_schema(text: &str) -> Result<Schema, String> {
    let document = s::parse_schema::<String>(text)
        .map_err(|e| format!("the schema does not parse: {e}"))?
        .into_static();
    let mut schema = Schema {
        types: BTreeMap::new(),
        query: "Query".to_owned(),
        mutation: "Mutation".to_owned(),
        subscription: "Subscription".to_owned(),
    };
    for name in BUILT_IN_SCALARS {
        schema.types.insert(name.to_owned(), type_def(Kind::Scalar));
    }
    let mut implementations: Vec<(String, String)> = Vec::new();
    for definition in &document.definitions {
        let (name, def) = match definition {
            s::Definition::SchemaDefinition(roots) => {
                if let Some(name) = &roots.query {
                    schema.query.clone_from(name);
                }
                if let Some(name) = &roots.mutation {
                    schema.mutation.clone_from(name);
                }
                if let Some(name) = &roots.subscription {
                    schema.subscription.clone_from(name);
                }
                continue;
            }
            s::Definition::TypeDefinition(t) => match t {
                s::TypeDefinition::Scalar(t) => (&t.name, type_def(Kind::Scalar)),
                s::TypeDefinition::Object(t) => {
                    for interface in &t.implements_interfaces {
                        implementations.push((interface.clone(), t.name.clone()));
                    }
                    let mut def = type_def(Kind::Object);
                    def.fields = t.fields.iter().map(field).collect();
                    (&t.name, def)
                }
                s::TypeDefinition::Interface(t) => {
                    let mut def = type_def(Kind::Interface);
                    def.fields = t.fields.iter().map(field).collect();
                    (&t.name, def)
                }
                s::TypeDefinition::Union(t) => {
                    let mut def = type_def(Kind::Union);
                    def.possible = t.types.iter().cloned().collect();
                    (&t.name, def)
                }
                s::TypeDefinition::Enum(t) => {
                    let mut def = type_def(Kind::Enum);
                    def.values = t.values.iter().map(|v| v.name.clone()).collect();
                    def.deprecated_values = t
                        .values
                        .iter()
                        .filter_map(|v| Some((v.name.clone(), deprecation(&v.directives)?)))
                        .collect();
                    (&t.name, def)
                }
                s::TypeDefinition::InputObject(t) => {
                    let mut def = type_def(Kind::InputObject);
                    def.fields = t.fields.iter().map(input_value).collect();
                    (&t.name, def)
                }
            },
            s::Definition::TypeExtension(_) | s::Definition::DirectiveDefinition(_) => continue,
        };
        schema.types.insert(name.clone(), def);
    }
    for (interface, object) in implementations {
        if let Some(def) = schema.types.get_mut(&interface) {
            def.possible.insert(object);
        }
    }
    Ok(schema)
}

/// The innermost named type of a type reference.
pub fn named_type<'a>(ty: &'a s::Type<'static, String>) -> &'a str {
    match ty {
        s::Type::NamedType(name) => name,
        s::Type::ListType(inner) | s::Type::NonNullType(inner) => named_type(inner),
    }
}

fn render_type(ty: &q::Type<'static, String>) -> String {
    ty.to_string()
}

/// Whether a variable of type `var` may be passed where `arg` is expected.
fn fits(var: &q::Type<'static, String>, arg: &s::Type<'static, String>, has_default: bool) -> bool {
    match (var, arg) {
        (q::Type::NonNullType(v), q::Type::NonNullType(a)) => fits(v, a, false),
        (q::Type::NonNullType(v), a) => fits(v, a, false),
        (_, q::Type::NonNullType(a)) if has_default => fits(var, a, false),
        (_, q::Type::NonNullType(_)) => false,
        (q::Type::ListType(v), q::Type::ListType(a)) => fits(v, a, false),
        (q::Type::NamedType(v), q::Type::NamedType(a)) => v == a,
        _ => false,
    }
}

fn at(pos: Pos) -> String {
    format!("{}:{}", pos.line, pos.column)
}

struct Checker<'a> {
    schema: &'a Schema,
    fragments: BTreeMap<String, &'a q::FragmentDefinition<'static, String>>,
    variables: BTreeMap<String, q::Type<'static, String>>,
    info: OperationInfo,
    /// Fragments being checked, to stop at a cycle.
    visiting: Vec<String>,
}

impl Checker<'_> {
    fn check_selection_set(
        &mut self,
        parent: &str,
        set: &q::SelectionSet<'static, String>,
    ) -> Result<(), String> {
        for selection in &set.items {
            match selection {
                q::Selection::Field(f) => self.check_field(parent, f)?,
                q::Selection::FragmentSpread(spread) => {
                    let name = &spread.fragment_name;
                    let fragment = self.fragments.get(name).copied().ok_or_else(|| {
                        format!(
                            "{}: fragment `{name}` is spread on type `{parent}` but is not defined",
                            at(spread.position)
                        )
                    })?;
                    if self.visiting.contains(name) {
                        return Err(format!(
                            "{}: fragment `{name}` spreads itself",
                            at(spread.position)
                        ));
                    }
                    self.visiting.push(name.clone());
                    let q::TypeCondition::On(on) = &fragment.type_condition;
                    self.check_condition(parent, on, fragment.position)?;
                    self.check_selection_set(on, &fragment.selection_set)?;
                    self.visiting.pop();
                }
                q::Selection::InlineFragment(inline) => {
                    let on = match &inline.type_condition {
                        Some(q::TypeCondition::On(on)) => on.as_str(),
                        None => parent,
                    };
                    self.check_condition(parent, on, inline.position)?;
                    self.check_selection_set(on, &inline.selection_set)?;
                }
            }
        }
        Ok(())
    }

    /// A fragment on `on` may be spread inside `parent` when the two types can overlap.
    fn check_condition(&self, parent: &str, on: &str, pos: Pos) -> Result<(), String> {
        let def = self.schema.types.get(on).ok_or_else(|| {
            format!(
                "{}: fragment on type `{on}`, which the schema does not define",
                at(pos)
            )
        })?;
        if !matches!(def.kind, Kind::Object | Kind::Interface | Kind::Union) {
            return Err(format!(
                "{}: fragment on `{on}`, which is not an object type",
                at(pos)
            ));
        }
        let possible = |name: &str| -> BTreeSet<String> {
            match self.schema.types.get(name) {
                Some(t) if t.kind == Kind::Object => [name.to_owned()].into(),
                Some(t) => t.possible.clone(),
                None => BTreeSet::new(),
            }
        };
        if possible(parent).is_disjoint(&possible(on)) {
            return Err(format!(
                "{}: a fragment on type `{on}` can never apply inside type `{parent}`",
                at(pos)
            ));
        }
        Ok(())
    }

    fn check_field(&mut self, parent: &str, f: &q::Field<'static, String>) -> Result<(), String> {
        let name = &f.name;
        let pos = at(f.position);
        if name == "__typename" {
            return Ok(());
        }
        let parent_def = &self.schema.types[parent];
        let def = parent_def
            .fields
            .iter()
            .find(|d| &d.name == name)
            .ok_or_else(|| format!("{pos}: field `{name}` does not exist on type `{parent}`"))?;
        self.check_arguments(parent, def, f)?;
        let key = (parent.to_owned(), name.clone());
        if let Some(reason) = &def.deprecated {
            self.info.deprecated.insert(key.clone(), reason.clone());
        }
        self.info.selected.insert(key);
        let ty = named_type(&def.ty).to_owned();
        let kind = self.schema.types.get(&ty).map(|t| t.kind).ok_or_else(|| {
            format!("{pos}: field `{name}` on type `{parent}` has type `{ty}`, which the schema does not define")
        })?;
        let leaf = matches!(kind, Kind::Scalar | Kind::Enum);
        if leaf && !f.selection_set.items.is_empty() {
            return Err(format!(
                "{pos}: field `{name}` on type `{parent}` is a `{ty}`, which has no fields to select"
            ));
        }
        if !leaf && f.selection_set.items.is_empty() {
            return Err(format!(
                "{pos}: field `{name}` on type `{parent}` is a `{ty}` and needs a selection of its fields"
            ));
        }
        if leaf {
            return Ok(());
        }
        self.check_selection_set(&ty, &f.selection_set)
    }

    fn check_arguments(
        &self,
        parent: &str,
        def: &FieldDef,
        f: &q::Field<'static, String>,
    ) -> Result<(), String> {
        let pos = at(f.position);
        let field = &f.name;
        for (arg, value) in &f.arguments {
            let arg_def = def.args.iter().find(|a| &a.name == arg).ok_or_else(|| {
                format!("{pos}: field `{field}` on type `{parent}` has no argument `{arg}`")
            })?;
            if let q::Value::Variable(var) = value {
                let var_ty = self.variables.get(var).ok_or_else(|| {
                    format!("{pos}: argument `{arg}` of field `{field}` on type `{parent}` uses `${var}`, which the operation does not declare")
                })?;
                if !fits(var_ty, &arg_def.ty, false) {
                    return Err(format!(
                        "{pos}: argument `{arg}` of field `{field}` on type `{parent}` expects `{}`, but `${var}` is `{}`",
                        arg_def.ty,
                        render_type(var_ty)
                    ));
                }
            }
        }
        for arg_def in &def.args {
            let required = matches!(arg_def.ty, s::Type::NonNullType(_)) && !arg_def.has_default;
            if required && !f.arguments.iter().any(|(name, _)| name == &arg_def.name) {
                return Err(format!(
                    "{pos}: field `{field}` on type `{parent}` requires argument `{}: {}`",
                    arg_def.name, arg_def.ty
                ));
            }
        }
        Ok(())
    }
}

/// Checks every operation and fragment in `text` against `schema`.
pub fn check_operation(schema: &Schema, text: &str) -> Result<OperationInfo, String> {
    let document = q::parse_query::<String>(text)
        .map_err(|e| format!("the operation does not parse: {e}"))?
        .into_static();
    check_document(schema, &document)
}

/// Checks every operation and fragment of a parsed document against `schema`.
pub fn check_document(
    schema: &Schema,
    document: &q::Document<'static, String>,
) -> Result<OperationInfo, String> {
    let mut fragments = BTreeMap::new();
    let mut info_fragments = BTreeMap::new();
    let mut operations = Vec::new();
    for definition in &document.definitions {
        match definition {
            q::Definition::Fragment(f) => {
                fragments.insert(f.name.clone(), f);
                let q::TypeCondition::On(on) = &f.type_condition;
                info_fragments.insert(f.name.clone(), on.clone());
            }
            q::Definition::Operation(op) => operations.push(op),
        }
    }
    let mut checker = Checker {
        schema,
        fragments,
        variables: BTreeMap::new(),
        info: OperationInfo {
            fragments: info_fragments,
            ..OperationInfo::default()
        },
        visiting: Vec::new(),
    };
    if operations.is_empty() {
        return Err("the file holds no operation".to_owned());
    }
    for op in operations {
        let (name, root, vars, set, pos) = match op {
            q::OperationDefinition::Query(o) => (
                &o.name,
                &schema.query,
                &o.variable_definitions,
                &o.selection_set,
                o.position,
            ),
            q::OperationDefinition::Mutation(o) => (
                &o.name,
                &schema.mutation,
                &o.variable_definitions,
                &o.selection_set,
                o.position,
            ),
            q::OperationDefinition::Subscription(o) => (
                &o.name,
                &schema.subscription,
                &o.variable_definitions,
                &o.selection_set,
                o.position,
            ),
            q::OperationDefinition::SelectionSet(set) => {
                return Err(format!("{}: an operation needs a name", at(set.span.0)))
            }
        };
        if !schema.types.contains_key(root) {
            return Err(format!("{}: the schema has no root type `{root}`", at(pos)));
        }
        checker.info.name = name.clone().unwrap_or_default();
        checker.info.root.clone_from(root);
        checker.variables.clear();
        for var in vars {
            let type_name = named_type(&var.var_type);
            let kind = schema.types.get(type_name).map(|t| t.kind).ok_or_else(|| {
                format!(
                    "{}: variable `${}` has type `{type_name}`, which the schema does not define",
                    at(var.position),
                    var.name
                )
            })?;
            if !matches!(kind, Kind::Scalar | Kind::Enum | Kind::InputObject) {
                return Err(format!(
                    "{}: variable `${}` has type `{type_name}`, which is not an input type",
                    at(var.position),
                    var.name
                ));
            }
            checker
                .variables
                .insert(var.name.clone(), var.var_type.clone());
            checker.info.variables.push(VariableInfo {
                name: var.name.clone(),
                type_name: type_name.to_owned(),
                is_input_object: kind == Kind::InputObject,
            });
        }
        checker.check_selection_set(root, set)?;
    }
    Ok(checker.info)
}
