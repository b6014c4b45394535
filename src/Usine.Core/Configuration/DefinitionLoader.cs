using System.Globalization;
using System.Text.RegularExpressions;
using Usine.Models;
using Usine.Pipeline;
using Usine.Sources;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Usine.Configuration;

/// <summary>
/// Reads models and sources from YAML. Every mistake fails with <see cref="DefinitionException"/> naming the
/// file, the line and what to fix; unknown keys are mistakes too, so that a typo never goes unnoticed.
/// </summary>
public static partial class DefinitionLoader
{
    private static readonly string[] TopKeys = ["models", "sources", "alerts", "auth", "shifts", "include"];
    private static readonly string[] ModelKeys = ["name", "version", "description", "time", "key", "avatar", "fields", "rollups", "sequence"];
    private static readonly string[] FieldKeys = ["type", "unit", "required", "min", "max", "enum", "pattern", "description"];
    private static readonly string[] AvatarKeys = ["type", "id", "attach", "attributes"];
    private static readonly string[] RollupKeys = ["name", "bucket", "by", "measures"];
    private static readonly string[] SourceKeys = ["id", "plant", "kind", "format", "model", "map", "context", "topic", "path", "pattern", "expect", "maxPayloadBytes", "settings", "description"];
    private static readonly string[] FoldedKeys = ["topic", "path", "pattern"];
    private static readonly string[] ContextKeys = ["shop", "line", "station"];
    private static readonly string[] MappingKeys = ["path", "unit", "expr", "const", "template"];

    [GeneratedRegex("^[a-z][a-z0-9_]{0,62}$")]
    private static partial Regex ModelName();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
    private static partial Regex SourceId();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,31}$")]
    private static partial Regex KindName();

    /// <summary>Loads a file and the files it includes.</summary>
    /// <param name="kinds">The registered kinds of source; with them, a kind not registered is an error and each source's settings are checked by its kind. Without them, any kind name is read and settings are not checked.</param>
    /// <param name="formats">The formats sources may name; default those of <paramref name="kinds"/>, else JSON and CSV.</param>
    public static UsineDefinitions LoadFile(string path, SourceKindRegistry? kinds = null, PayloadFormats? formats = null)
    {
        var defs = new UsineDefinitions { Formats = formats ?? kinds?.Formats ?? PayloadFormats.Default };
        LoadInto(defs, path, new HashSet<string>(StringComparer.Ordinal), kinds);
        Check(defs);
        return defs;
    }

    /// <summary>Loads several files (and what they include) as one set of definitions, checked together.</summary>
    /// <param name="kinds">The registered kinds of source; with them, a kind not registered is an error and each source's settings are checked by its kind. Without them, any kind name is read and settings are not checked.</param>
    /// <param name="formats">The formats sources may name; default those of <paramref name="kinds"/>, else JSON and CSV.</param>
    public static UsineDefinitions LoadFiles(IEnumerable<string> paths, SourceKindRegistry? kinds = null, PayloadFormats? formats = null)
    {
        var defs = new UsineDefinitions { Formats = formats ?? kinds?.Formats ?? PayloadFormats.Default };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            LoadInto(defs, path, seen, kinds);
        }

        Check(defs);
        return defs;
    }

    /// <summary>Loads definitions from YAML text; <paramref name="name"/> appears in error messages.</summary>
    public static UsineDefinitions LoadText(string yaml, string name = "<text>", SourceKindRegistry? kinds = null, PayloadFormats? formats = null)
    {
        var defs = new UsineDefinitions { Formats = formats ?? kinds?.Formats ?? PayloadFormats.Default };
        Parse(defs, yaml, name, null, new HashSet<string>(StringComparer.Ordinal), kinds);
        Check(defs);
        return defs;
    }

    /// <summary>Adds definitions from more YAML to existing ones (used when models and sources come from several places).</summary>
    public static void Merge(UsineDefinitions defs, string yaml, string name, SourceKindRegistry? kinds = null)
    {
        Parse(defs, yaml, name, null, new HashSet<string>(StringComparer.Ordinal), kinds);
        Check(defs);
    }

    private static void LoadInto(UsineDefinitions defs, string path, HashSet<string> seen, SourceKindRegistry? kinds)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!seen.Add(full))
        {
            return;
        }

        if (!File.Exists(full))
        {
            throw new DefinitionException(path, 0, "file not found");
        }

        Parse(defs, File.ReadAllText(full), path, System.IO.Path.GetDirectoryName(full), seen, kinds);
    }

    private static void Parse(UsineDefinitions defs, string yaml, string file, string? dir, HashSet<string> seen, SourceKindRegistry? kinds)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new DefinitionException(file, ex.Start.Line, "invalid YAML: " + FirstLine(ex.Message));
        }

        var ctx = new Ctx(file, dir, kinds);
        foreach (var doc in stream.Documents)
        {
            if (doc.RootNode is YamlScalarNode { Value: null or "" })
            {
                continue;
            }

            var root = ctx.Map(doc.RootNode, "the document");
            ctx.OnlyKeys(root, TopKeys, "the top level");
            if (ctx.Opt(root, "include") is { } inc)
            {
                foreach (var item in ctx.Seq(inc, "include"))
                {
                    var pattern = ctx.Str(item, "include");
                    var baseDir = dir ?? Directory.GetCurrentDirectory();
                    var matches = Glob(baseDir, pattern);
                    if (matches.Count == 0)
                    {
                        throw ctx.Error(item, $"include '{pattern}' matches no file in {baseDir}");
                    }

                    foreach (var m in matches)
                    {
                        LoadInto(defs, m, seen, kinds);
                    }
                }
            }

            if (ctx.Opt(root, "models") is { } models)
            {
                foreach (var m in ctx.Seq(models, "models"))
                {
                    var model = ReadModel(ctx, m);
                    if (defs.Models.TryGetValue(model.Name, out var versions) && versions.Get(model.Version) is { } existing)
                    {
                        throw ctx.Error(m, $"model {model.Ref} is defined twice (first at {existing.Origin})");
                    }

                    if (versions is not null)
                    {
                        CheckEvolution(ctx, m, versions, model);
                    }

                    defs.AddModel(model);
                }
            }

            if (ctx.Opt(root, "sources") is { } sources)
            {
                foreach (var s in ctx.Seq(sources, "sources"))
                {
                    var source = ReadSource(ctx, s, defs);
                    if (defs.Sources.TryGetValue(source.Id, out var existing))
                    {
                        throw ctx.Error(s, $"source '{source.Id}' is defined twice (first at {existing.Origin})");
                    }

                    defs.Sources[source.Id] = source;
                }
            }

            if (ctx.Opt(root, "alerts") is { } alerts)
            {
                ReadAlerts(ctx, alerts, defs);
            }

            if (ctx.Opt(root, "auth") is { } auth)
            {
                ReadAuth(ctx, auth, defs, dir);
            }

            if (ctx.Opt(root, "shifts") is { } shifts)
            {
                ReadShifts(ctx, shifts, defs);
            }
        }
    }

    private static List<string> Glob(string dir, string pattern)
    {
        var full = System.IO.Path.Combine(dir, pattern);
        var d = System.IO.Path.GetDirectoryName(full)!;
        var f = System.IO.Path.GetFileName(full);
        return Directory.Exists(d) ? [.. Directory.GetFiles(d, f).Order(StringComparer.Ordinal)] : [];
    }

    private static void CheckEvolution(Ctx ctx, YamlNode node, ModelVersions versions, DataModel model)
    {
        foreach (var old in versions.All)
        {
            foreach (var f in model.Fields)
            {
                if (old.Field(f.Name) is { } of && of.Type != f.Type)
                {
                    // The line of the field's type, not of the model: that is the line to change.
                    var at = node is YamlMappingNode m && ctx.Opt(m, "fields") is YamlMappingNode fields && ctx.Opt(fields, f.Name) is { } field
                        ? (field is YamlMappingNode fm ? ctx.Opt(fm, "type") : null) ?? field
                        : node;
                    throw ctx.Error(at, $"model {model.Ref} changes the type of field '{f.Name}' from {Lower(of.Type)} (version {old.Version}) to {Lower(f.Type)}; add a new field instead");
                }
            }
        }
    }

    /// <summary>Checks that need every file loaded: each source's model exists, and its map fits the model.</summary>
    private static void Check(UsineDefinitions defs)
    {
        CheckAlerts(defs);
        foreach (var s in defs.Sources.Values)
        {
            var where = s.Origin ?? s.Id;
            if (!defs.Models.TryGetValue(s.Model, out var versions))
            {
                throw Fail(where, $"source '{s.Id}' names model '{s.Model}', which is not defined (defined: {Names(defs.Models.Keys)})");
            }

            var model = s.ModelVersion is { } v ? versions.Get(v) : versions.Latest;
            if (model is null)
            {
                throw Fail(where, $"source '{s.Id}' pins {s.Model} version {s.ModelVersion}, which is not defined (defined: {string.Join(", ", versions.All.Select(x => x.Version))})");
            }

            foreach (var (field, mapping) in s.Map)
            {
                var f = model.Field(field);
                if (f is null)
                {
                    throw Fail(where, $"source '{s.Id}' maps '{field}', which is not a field of {model.Ref} (fields: {Names(model.Fields.Select(x => x.Name))})");
                }

                if (mapping.FromUnit is { } from)
                {
                    if (f.Unit is null)
                    {
                        throw Fail(where, $"source '{s.Id}' converts '{field}' from {from}, but the field has no unit in {model.Ref}");
                    }

                    try
                    {
                        Units.Converter(from, f.Unit);
                    }
                    catch (FormatException ex)
                    {
                        throw Fail(where, $"source '{s.Id}', field '{field}': {ex.Message}");
                    }
                }
            }
        }
    }

    private static DefinitionException Fail(string origin, string problem)
    {
        var colon = origin.LastIndexOf(':');
        return colon > 0 && long.TryParse(origin.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var line)
            ? new DefinitionException(origin[..colon], line, problem)
            : new DefinitionException(origin, 0, problem);
    }

    private static string Names(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list);
    }

    private static string Lower<T>(T e) where T : struct, Enum => e.ToString().ToLowerInvariant();

    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n', StringComparison.Ordinal);
        return i < 0 ? s : s[..i];
    }

    private static DataModel ReadModel(Ctx ctx, YamlNode node)
    {
        var map = ctx.Map(node, "a model");
        ctx.OnlyKeys(map, ModelKeys, "a model");
        var nameNode = ctx.Req(map, "name", "a model");
        var name = ctx.Str(nameNode, "name");
        if (!ModelName().IsMatch(name))
        {
            throw ctx.Error(nameNode, $"model name '{name}' must be lower case letters, digits and '_', starting with a letter");
        }

        var version = map.Children.TryGetValue(new YamlScalarNode("version"), out var vn) ? ctx.Int(vn, "version") : 1;
        if (version < 1)
        {
            throw ctx.Error(vn!, "version must be 1 or more");
        }

        var fieldsNode = ctx.Map(ctx.Req(map, "fields", $"model '{name}'"), "fields");
        var fields = new List<FieldDefinition>();
        foreach (var (k, v) in fieldsNode.Children)
        {
            fields.Add(ReadField(ctx, ctx.Str(k, "a field name"), v));
        }

        if (fields.Count == 0)
        {
            throw ctx.Error(fieldsNode, $"model '{name}' has no field");
        }

        var fieldNames = fields.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        var timeNode = ctx.Req(map, "time", $"model '{name}' (the event-time field)");
        var time = ctx.Str(timeNode, "time");
        var timeField = fields.FirstOrDefault(f => f.Name == time)
            ?? throw ctx.Error(timeNode, $"time field '{time}' is not a field of model '{name}'");
        if (timeField.Type != FieldType.Timestamp)
        {
            throw ctx.Error(timeNode, $"time field '{time}' must have type timestamp, not {Lower(timeField.Type)}");
        }

        var key = new List<string>();
        if (ctx.Opt(map, "key") is { } keyNode)
        {
            foreach (var k in ctx.Seq(keyNode, "key"))
            {
                var kf = ctx.Str(k, "key");
                if (!fieldNames.Contains(kf))
                {
                    throw ctx.Error(k, $"key field '{kf}' is not a field of model '{name}'");
                }

                key.Add(kf);
            }
        }

        AvatarBinding? avatar = null;
        if (ctx.Opt(map, "avatar") is { } an)
        {
            var am = ctx.Map(an, "avatar");
            ctx.OnlyKeys(am, AvatarKeys, "avatar");
            var type = ctx.Str(ctx.Req(am, "type", "avatar"), "avatar type");
            var idNode = ctx.Req(am, "id", "avatar");
            var id = ctx.Template(idNode);
            foreach (var n in id.Names)
            {
                if (!fieldNames.Contains(n) && n is not ("plant" or "shop" or "line" or "station" or "source"))
                {
                    throw ctx.Error(idNode, $"avatar id '{id.Text}' uses '{{{n}}}', which is neither a field of model '{name}' nor plant, shop, line, station or source");
                }
            }

            var attach = type is "vehicle" or "part" ? AvatarAttach.Link : AvatarAttach.Parent;
            if (ctx.Opt(am, "attach") is { } att)
            {
                attach = ctx.Enum<AvatarAttach>(att, "attach");
            }

            var attributes = ctx.Opt(am, "attributes") is { } attrs ? ReadAvatarAttributes(ctx, attrs, name, fieldNames) : [];
            avatar = new AvatarBinding { Type = type, Id = id, Attach = attach, Attributes = attributes };
        }

        var rollups = new List<RollupDefinition>();
        if (ctx.Opt(map, "rollups") is { } rn)
        {
            foreach (var r in ctx.Seq(rn, "rollups"))
            {
                rollups.Add(ReadRollup(ctx, r, name, fields));
            }

            var dup = rollups.GroupBy(r => r.Name).FirstOrDefault(g => g.Count() > 1);
            if (dup is not null)
            {
                throw ctx.Error(rn, $"two rollups of model '{name}' are named '{dup.Key}'; give one a 'name'");
            }
        }

        SequenceDefinition? sequence = null;
        if (ctx.Opt(map, "sequence") is { } sn)
        {
            sequence = ReadSequence(ctx, sn, name, fields);
        }

        return new DataModel
        {
            Name = name,
            Version = version,
            Description = ctx.OptStr(map, "description"),
            TimeField = time,
            Key = key,
            Avatar = avatar,
            Fields = fields,
            Rollups = rollups,
            Sequence = sequence,
            Origin = ctx.Where(node),
        };
    }

    private static SequenceDefinition ReadSequence(Ctx ctx, YamlNode node, string model, List<FieldDefinition> fields)
    {
        // Either "sequence: seq" or "sequence: { field: seq, by: [machine] }".
        YamlNode fieldNode = node;
        var by = new List<string>();
        if (node is YamlMappingNode m)
        {
            ctx.OnlyKeys(m, ["field", "by"], "sequence");
            fieldNode = ctx.Req(m, "field", "sequence");
            if (ctx.Opt(m, "by") is { } bn)
            {
                foreach (var b in ctx.Seq(bn, "sequence by"))
                {
                    var name = ctx.Str(b, "sequence by");
                    if (!fields.Any(f => f.Name == name))
                    {
                        throw ctx.Error(b, $"sequence is grouped by '{name}', which is not a field of model '{model}'");
                    }

                    by.Add(name);
                }
            }
        }

        var field = ctx.Str(fieldNode, "sequence field");
        var def = fields.FirstOrDefault(f => f.Name == field)
            ?? throw ctx.Error(fieldNode, $"sequence field '{field}' is not a field of model '{model}'");
        if (def.Type != FieldType.Int)
        {
            throw ctx.Error(fieldNode, $"sequence field '{field}' must have type int, not {Lower(def.Type)}");
        }

        return new SequenceDefinition { Field = field, By = by };
    }

    /// <summary>Columns every record table has besides the model's fields.</summary>
    public static readonly string[] SystemColumns = ["record_id", "plant", "avatar_key", "avatar_id", "context_key", "event_time", "model_version", "source_id", "stream_id", "raw_position", "raw_index", "stored_at"];

    private static FieldDefinition ReadField(Ctx ctx, string name, YamlNode node)
    {
        if (!ModelName().IsMatch(name))
        {
            throw ctx.Error(node, $"field name '{name}' must be lower case letters, digits and '_', starting with a letter");
        }

        if (SystemColumns.Contains(name, StringComparer.Ordinal))
        {
            throw ctx.Error(node, $"field name '{name}' is taken by a column every record has ({string.Join(", ", SystemColumns)}); rename the field and map it");
        }

        YamlMappingNode map;
        if (node is YamlScalarNode)
        {
            map = new YamlMappingNode { { "type", node } };
        }
        else
        {
            map = ctx.Map(node, $"field '{name}'");
        }

        ctx.OnlyKeys(map, FieldKeys, $"field '{name}'");
        var typeNode = ctx.Req(map, "type", $"field '{name}'");
        var type = ctx.Enum<FieldType>(typeNode, "type");
        double? min = ctx.Opt(map, "min") is { } mn ? ctx.Double(mn, "min") : null;
        double? max = ctx.Opt(map, "max") is { } mx ? ctx.Double(mx, "max") : null;
        if ((min is not null || max is not null) && type is not (FieldType.Int or FieldType.Double))
        {
            throw ctx.Error(node, $"field '{name}' has min/max but type {Lower(type)}; ranges apply to int and double");
        }

        if (min > max)
        {
            throw ctx.Error(node, $"field '{name}' has min {min} above max {max}");
        }

        List<string>? enumValues = null;
        if (ctx.Opt(map, "enum") is { } en)
        {
            enumValues = [.. ctx.Seq(en, "enum").Select(e => ctx.Str(e, "enum value"))];
            if (type != FieldType.String)
            {
                throw ctx.Error(en, $"field '{name}' has an enum but type {Lower(type)}; enums apply to strings");
            }
        }

        string? pattern = null;
        Regex? regex = null;
        if (ctx.Opt(map, "pattern") is { } pn)
        {
            pattern = ctx.Str(pn, "pattern");
            try
            {
                // Linear-time matching: a hostile value cannot make a pattern backtrack forever, without the
                // cost of a match timeout on every message. Patterns it cannot run (backreferences,
                // lookarounds) fall back to the backtracking engine with a timeout.
                regex = new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            }
            catch (NotSupportedException)
            {
                regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
            }
            catch (ArgumentException ex)
            {
                throw ctx.Error(pn, $"pattern of field '{name}' is not a valid regular expression: {ex.Message}");
            }
        }

        var unit = ctx.OptStr(map, "unit");
        return new FieldDefinition
        {
            Name = name,
            Type = type,
            Unit = unit,
            Required = ctx.Opt(map, "required") is { } rq && ctx.Bool(rq, "required"),
            Min = min,
            Max = max,
            Enum = enumValues,
            EnumSet = enumValues?.ToHashSet(StringComparer.Ordinal),
            Pattern = pattern,
            PatternRegex = regex,
            Description = ctx.OptStr(map, "description"),
        };
    }

    /// <summary>Levels of the plant hierarchy a rollup may group by, as aggregates name them.</summary>
    private static readonly string[] HierarchyLevels = ["@shop", "@line", "@station"];

    private static RollupDefinition ReadRollup(Ctx ctx, YamlNode node, string model, List<FieldDefinition> fields)
    {
        var map = ctx.Map(node, "a rollup");
        ctx.OnlyKeys(map, RollupKeys, "a rollup");
        var bucketNode = ctx.Req(map, "bucket", "a rollup");
        var bucketText = ctx.Str(bucketNode, "bucket");
        var bucket = ParseDuration(bucketText) ?? throw ctx.Error(bucketNode, $"bucket '{bucketText}' is not a duration such as 1m, 15m, 1h or 1d");
        if (bucket < TimeSpan.FromSeconds(1) || bucket > TimeSpan.FromDays(31))
        {
            throw ctx.Error(bucketNode, $"bucket '{bucketText}' must be between 1s and 31d");
        }

        var by = new List<string>();
        if (ctx.Opt(map, "by") is { } bn)
        {
            foreach (var b in ctx.Seq(bn, "by"))
            {
                var f = ctx.Str(b, "by");
                if (f != "plant" && !HierarchyLevels.Contains(f) && fields.All(x => x.Name != f))
                {
                    throw ctx.Error(b, $"rollup groups by '{f}', which is not a field of model '{model}' (or 'plant', or a level of the plant hierarchy: {string.Join(", ", HierarchyLevels)})");
                }

                by.Add(f);
            }
        }

        var measures = new Dictionary<string, IReadOnlyList<Measure>>(StringComparer.Ordinal);
        var mn = ctx.Map(ctx.Req(map, "measures", "a rollup"), "measures");
        foreach (var (k, v) in mn.Children)
        {
            var fname = ctx.Str(k, "a measured field");
            var f = fields.FirstOrDefault(x => x.Name == fname) ?? throw ctx.Error(k, $"rollup measures '{fname}', which is not a field of model '{model}'");
            var list = new List<Measure>();
            foreach (var m in ctx.Seq(v, $"measures of '{fname}'"))
            {
                var measure = ctx.Enum<Measure>(m, "measure");
                if (measure != Measure.Count && f.Type is not (FieldType.Int or FieldType.Double))
                {
                    throw ctx.Error(m, $"'{Lower(measure)}' of '{fname}' needs a numeric field; '{fname}' is {Lower(f.Type)} (count works on any field)");
                }

                list.Add(measure);
            }

            measures[fname] = list;
        }

        return new RollupDefinition
        {
            Name = ctx.OptStr(map, "name") ?? bucketText,
            Bucket = bucket,
            By = by,
            Measures = measures,
        };
    }

    private static SourceDefinition ReadSource(Ctx ctx, YamlNode node, UsineDefinitions defs)
    {
        var map = ctx.Map(node, "a source");
        ctx.OnlyKeys(map, [.. SourceKeys, .. defs.Formats.SourceKeys], "a source");
        var idNode = ctx.Req(map, "id", "a source");
        var id = ctx.Str(idNode, "id");
        if (!SourceId().IsMatch(id))
        {
            throw ctx.Error(idNode, $"source id '{id}' may hold letters, digits and _ . : - (up to 128), starting with a letter or digit");
        }

        var kind = ReadKind(ctx, ctx.Req(map, "kind", $"source '{id}'"));
        var format = ReadFormat(ctx, map, defs.Formats, out var formatOptions);
        var modelNode = ctx.Req(map, "model", $"source '{id}'");
        var modelText = ctx.Str(modelNode, "model");
        string modelName = modelText;
        int? modelVersion = null;
        var at = modelText.IndexOf('@', StringComparison.Ordinal);
        if (at > 0)
        {
            modelName = modelText[..at];
            modelVersion = int.TryParse(modelText.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var mv)
                ? mv
                : throw ctx.Error(modelNode, $"model '{modelText}': write name@version, like screwing@2");
        }

        var mapDict = new Dictionary<string, FieldMapping>(StringComparer.Ordinal);
        if (ctx.Opt(map, "map") is { } mapNode)
        {
            foreach (var (k, v) in ctx.Map(mapNode, "map").Children)
            {
                var field = ctx.Str(k, "a mapped field");
                mapDict[field] = ReadMapping(ctx, v, field);
            }
        }

        var context = new SourceContext();
        if (ctx.Opt(map, "context") is { } cn)
        {
            var cm = ctx.Map(cn, "context");
            ctx.OnlyKeys(cm, ContextKeys, "context");
            context = new SourceContext
            {
                Shop = ctx.Opt(cm, "shop") is { } sh ? ctx.Template(sh) : null,
                Line = ctx.Opt(cm, "line") is { } ln ? ctx.Template(ln) : null,
                Station = ctx.Opt(cm, "station") is { } st ? ctx.Template(st) : null,
            };
        }

        TimeSpan? every = null;
        if (ctx.Opt(map, "expect") is { } en)
        {
            var em = ctx.Map(en, "expect");
            ctx.OnlyKeys(em, ["every"], "expect");
            var evNode = ctx.Req(em, "every", "expect");
            var ev = ctx.Str(evNode, "every");
            every = ParseDuration(ev) ?? throw ctx.Error(evNode, $"expect.every '{ev}' is not a duration such as 30s, 5m or 1h");
        }

        var maxBytes = 1 << 20;
        if (ctx.Opt(map, "maxPayloadBytes") is { } mb)
        {
            var v = ctx.Int(mb, "maxPayloadBytes");
            maxBytes = v is >= 64 and <= 256 << 20 ? v : throw ctx.Error(mb, "maxPayloadBytes must be between 64 and 268435456");
        }

        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        YamlMappingNode? settingsNode = null;
        if (ctx.Opt(map, "settings") is { } sn)
        {
            settingsNode = ctx.Map(sn, "settings");
            foreach (var (k, v) in settingsNode.Children)
            {
                FlattenSetting(ctx, ctx.Str(k, "a setting"), v, settings);
            }
        }

        // Settings a source may also write at its top level, as it always could: its connector reads them from
        // its settings like any other, and a problem with one is reported at its line.
        foreach (var key in FoldedKeys)
        {
            if (ctx.Opt(map, key) is { } folded)
            {
                if (settings.ContainsKey(key))
                {
                    throw ctx.Error(folded, $"source '{id}' gives '{key}' twice, at its top level and under settings; keep one");
                }

                settings[key] = ctx.Str(folded, key);
            }
        }

        var plantNode = ctx.Req(map, "plant", $"source '{id}' (a plant name, or a template like '{{$.plant}}')");
        var source = new SourceDefinition
        {
            Id = id,
            Plant = ctx.Template(plantNode),
            Kind = kind,
            Format = format,
            Model = modelName,
            ModelVersion = modelVersion,
            Map = mapDict,
            Context = context,
            ExpectEvery = every,
            MaxPayloadBytes = maxBytes,
            FormatOptions = formatOptions,
            Settings = settings,
            Description = ctx.OptStr(map, "description"),
            Origin = ctx.Where(node),
            Directory = ctx.Dir,
        };
        CheckSettings(ctx, map, settingsNode, source);
        return source;
    }

    /// <summary>The registered format a source names, and the options it reads from its own keys of the source.</summary>
    private static PayloadFormat ReadFormat(Ctx ctx, YamlMappingNode map, PayloadFormats formats, out object? options)
    {
        var format = PayloadFormat.Json;
        if (ctx.Opt(map, "format") is { } node)
        {
            var name = ctx.Str(node, "format");
            if (!formats.TryGet(name, out format))
            {
                throw ctx.Error(node, $"format '{name}' is not one of {string.Join(", ", formats.Names)}");
            }
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in format.SourceKeys)
        {
            if (ctx.OptStr(map, key) is { } value)
            {
                values[key] = value;
            }
        }

        try
        {
            options = format.ReadOptions(values);
        }
        catch (ArgumentException ex)
        {
            throw ctx.Error(ex.ParamName is { } key && ctx.Opt(map, key) is { } at ? at : map, ex.Message.Split(" (Parameter", 2)[0]);
        }

        return format;
    }

    /// <summary>Runs the connector's check of the source's settings, reporting a problem at the line of the setting it is about.</summary>
    private static void CheckSettings(Ctx ctx, YamlMappingNode map, YamlMappingNode? settingsNode, SourceDefinition source)
    {
        if (ctx.Kinds?.Find(source.Kind) is not { } kind)
        {
            return;
        }

        try
        {
            if (kind.Settings is { } validator)
            {
                validator.Validate(source);
            }
            else if (source.Settings.Count > 0)
            {
                var key = source.Settings.Keys.Order(StringComparer.Ordinal).First();
                throw new SourceSettingException(key, FoldedKeys.Contains(key, StringComparer.Ordinal)
                    ? $"source '{source.Id}': a source of kind {source.Kind} takes no '{key}'; remove it"
                    : $"source '{source.Id}': a source of kind {source.Kind} takes no settings; remove 'settings'");
            }
        }
        catch (SourceSettingException ex)
        {
            // The line of the setting, or of the source's own key (topic...), or of the source.
            var at = KeyNode(settingsNode, ex.Setting) ?? KeyNode(map, ex.Setting) ?? map;
            throw ctx.Error(at, ex.Message);
        }
    }

    /// <summary>The kind, lower case; with registered kinds, one of them.</summary>
    private static string ReadKind(Ctx ctx, YamlNode node)
    {
        var text = ctx.Str(node, "kind");
        if (ctx.Kinds is { } kinds)
        {
            return kinds.Find(text)?.Name ?? throw ctx.Error(node, $"kind '{text}' is not one of {string.Join(", ", kinds.Names)} (the kinds the connectors of this Usine register)");
        }

        var kind = text.ToLowerInvariant();
        return KindName().IsMatch(kind) ? kind : throw ctx.Error(node, $"kind '{text}' must be a name such as mqtt, file or http");
    }

    private static YamlNode? KeyNode(YamlMappingNode? map, string? key)
    {
        if (map is null || key is null)
        {
            return null;
        }

        if (map.Children.Keys.FirstOrDefault(k => k is YamlScalarNode { Value: var v } && v == key) is { } direct)
        {
            return direct;
        }

        // A nested setting (user.password, nodes.1.browse): the deepest node of the path that exists.
        YamlNode? at = null;
        YamlNode current = map;
        foreach (var part in key.Split('.'))
        {
            if (current is YamlMappingNode m && m.Children.FirstOrDefault(c => c.Key is YamlScalarNode { Value: var v } && v == part) is { Key: { } k } entry)
            {
                at = k;
                current = entry.Value;
            }
            else if (current is YamlSequenceNode q && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < q.Children.Count)
            {
                at = current = q.Children[i];
            }
            else
            {
                break;
            }
        }

        return at;
    }

    /// <summary>
    /// A setting's value; a nested one (a map or a list, as <c>user: { name, password }</c> or a list of nodes) is
    /// flattened into dotted keys: <c>user.name</c>, <c>nodes.0.browse</c>.
    /// </summary>
    private static void FlattenSetting(Ctx ctx, string key, YamlNode value, Dictionary<string, string> settings)
    {
        switch (value)
        {
            case YamlMappingNode m:
                foreach (var (k, v) in m.Children)
                {
                    FlattenSetting(ctx, key + "." + ctx.Str(k, "a setting"), v, settings);
                }

                break;
            case YamlSequenceNode q:
                for (var i = 0; i < q.Children.Count; i++)
                {
                    FlattenSetting(ctx, key + "." + i.ToString(CultureInfo.InvariantCulture), q.Children[i], settings);
                }

                break;
            default:
                settings[key] = ctx.Str(value, "a setting value");
                break;
        }
    }

    private static FieldMapping ReadMapping(Ctx ctx, YamlNode node, string field)
    {
        try
        {
            if (node is YamlScalarNode s)
            {
                return FieldMapping.FromText(s.Value ?? "");
            }

            var m = ctx.Map(node, $"the mapping of '{field}'");
            ctx.OnlyKeys(m, MappingKeys, $"the mapping of '{field}'");
            var unit = ctx.OptStr(m, "unit");
            if (unit is not null && !Units.IsKnown(unit))
            {
                throw new FormatException($"unknown unit '{unit}'");
            }

            if (ctx.OptStr(m, "path") is { } p)
            {
                return FieldMapping.Path(p, unit);
            }

            if (ctx.OptStr(m, "expr") is { } e)
            {
                return FieldMapping.Expression(e, unit);
            }

            if (ctx.OptStr(m, "template") is { } t)
            {
                return FieldMapping.Interpolated(t);
            }

            if (ctx.OptStr(m, "const") is { } c)
            {
                return FieldMapping.Constant(c);
            }

            throw new FormatException("a mapping needs one of path, expr, template or const");
        }
        catch (FormatException ex)
        {
            throw ctx.Error(node, $"mapping of '{field}': {ex.Message}");
        }
    }

    /// <summary>Parses 500ms, 30s, 5m, 1h, 1d, 1w (or a .NET TimeSpan such as 00:00:30).</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        text = text.Trim();
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800) };
        foreach (var (suffix, seconds) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text.AsSpan(0, text.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
                && n > 0
                && (suffix != "m" || !text.EndsWith("ms", StringComparison.Ordinal)))
            {
                return TimeSpan.FromSeconds(n * seconds);
            }
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var ts) && ts > TimeSpan.Zero ? ts : null;
    }

    private sealed class Ctx(string file, string? dir, SourceKindRegistry? kinds)
    {
        /// <summary>The folder of the file being read; null for text.</summary>
        public string? Dir => dir;

        /// <summary>The registered kinds of source; null when the caller gave none.</summary>
        public SourceKindRegistry? Kinds => kinds;

        public DefinitionException Error(YamlNode node, string problem) => new(file, node.Start.Line, problem);

        public string Where(YamlNode node) => $"{file}:{node.Start.Line}";

        public YamlMappingNode Map(YamlNode node, string what) =>
            node as YamlMappingNode ?? throw Error(node, $"{what} must be a mapping (key: value lines)");

        public IEnumerable<YamlNode> Seq(YamlNode node, string what) =>
            node is YamlSequenceNode s ? s.Children : throw Error(node, $"{what} must be a list");

        public YamlNode? Opt(YamlMappingNode map, string key) =>
            map.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

        public YamlNode Req(YamlMappingNode map, string key, string what) =>
            Opt(map, key) ?? throw Error(map, $"{what} needs '{key}'");

        public string Str(YamlNode node, string what) =>
            node is YamlScalarNode { Value: { } v } ? v : throw Error(node, $"{what} must be a single value");

        public string? OptStr(YamlMappingNode map, string key) => Opt(map, key) is { } n ? Str(n, key) : null;

        public int Int(YamlNode node, string what) =>
            int.TryParse(Str(node, what), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw Error(node, $"{what} must be an integer");

        public double Double(YamlNode node, string what) =>
            double.TryParse(Str(node, what), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw Error(node, $"{what} must be a number");

        public bool Bool(YamlNode node, string what) => Str(node, what) switch
        {
            "true" or "yes" => true,
            "false" or "no" => false,
            _ => throw Error(node, $"{what} must be true or false"),
        };

        public T Enum<T>(YamlNode node, string what) where T : struct, Enum
        {
            var s = Str(node, what);
            return System.Enum.TryParse<T>(s, ignoreCase: true, out var v) && !int.TryParse(s, out _)
                ? v
                : throw Error(node, $"{what} '{s}' is not one of {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}");
        }

        public Template Template(YamlNode node)
        {
            var s = Str(node, "a template");
            try
            {
                return Usine.Pipeline.Template.Parse(s);
            }
            catch (FormatException ex)
            {
                throw Error(node, ex.Message);
            }
        }

        public void OnlyKeys(YamlMappingNode map, string[] allowed, string what)
        {
            foreach (var (k, _) in map.Children)
            {
                var key = Str(k, "a key");
                if (!allowed.Contains(key, StringComparer.Ordinal))
                {
                    throw Error(k, $"unknown key '{key}' in {what} (expected one of: {string.Join(", ", allowed)})");
                }
            }
        }
    }
}
