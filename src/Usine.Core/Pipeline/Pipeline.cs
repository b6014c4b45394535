using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Usine.Avatars;
using Usine.Configuration;
using Usine.Models;
using Usine.Sources;

namespace Usine.Pipeline;

/// <summary>
/// Decode → map → validate → custom steps → contextualize, for one source. The same object serves a file
/// import, a broker stream and a unit test on an in-memory list: it needs no store, only an
/// <see cref="AvatarRegistry"/>. Not thread-safe: one instance per processing lane.
/// </summary>
/// <remarks>
/// The source's format decodes each raw message into zero or more messages (<see cref="IPayloadDecoder"/>); each
/// goes through the other stages and becomes a record, a duplicate or a dead letter that keeps the raw position
/// and the message's index within the raw message.
/// </remarks>
public sealed class SourcePipeline : ITemplateScope, IDecodedMessages
{
    private readonly SourceDefinition _source;
    private readonly IPayloadDecoder _decoder;
    private readonly DataModel _model;
    private readonly FieldMapping[] _mappings;
    private readonly Func<double, double>?[] _converters;
    private readonly IPipelineStep[] _steps;
    private readonly int _timeIndex;
    private readonly int[] _keyIndexes;
    private readonly byte[] _modelNameBytes;
    private readonly MessageView _view = new();
    private readonly Scalar[] _scalars;
    private readonly bool[] _converted;
    private readonly List<string> _problems = [];
    private readonly HashSet<Guid> _batchIds = [];
    private readonly Dictionary<string, int> _fieldIndex;
    private byte[] _hashBuffer = new byte[512];
    private readonly long _sourceSeed;
    private FieldValue[] _values = [];
    private string? _plant;
    private int _contextDepth;

    // The raw message being decoded and where its messages go: the decoder hands them over one at a time.
    private RawMessage _msg;
    private string _streamId = "";
    private AvatarRegistry? _avatars;
    private PipelineOutput? _output;
    private int _next;
    private int _index;

    // The digest of the current raw payload, for the ids of its second and later messages: made once per payload.
    private readonly byte[] _payloadDigest = new byte[16];
    private bool _hasPayloadDigest;
    private bool _rejected;

    // Where the message being processed is, so that an unexpected exception becomes a dead letter at that stage.
    private DeadLetterStage _stage;
    private Guid? _claimedId;

    // Hierarchy levels seen by this pipeline: (parent key, level value) → key, so that a known station costs
    // one lookup of a short string instead of building its path and looking that up in the registry.
    private readonly Dictionary<(long Parent, string Value), (long Key, string Path)> _levels = [];
    private int _registryVersion = -1;
    private readonly bool _hasContext;

    public SourcePipeline(SourceDefinition source, UsineDefinitions definitions, IEnumerable<IPipelineStep>? steps = null)
    {
        _source = source;
        _decoder = source.Format.CreateDecoder(source);
        _model = definitions.ModelOf(source);
        var n = _model.Fields.Count;
        _mappings = new FieldMapping[n];
        _converters = new Func<double, double>?[n];
        _scalars = new Scalar[n];
        _converted = new bool[n];
        _fieldIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            var f = _model.Fields[i];
            _fieldIndex[f.Name] = i;
            _mappings[i] = source.Map.TryGetValue(f.Name, out var m) ? m : FieldMapping.Path("$." + f.Name);
            if (_mappings[i].FromUnit is { } from && f.Unit is { } to)
            {
                _converters[i] = Units.Converter(from, to);
            }
        }

        _timeIndex = _model.IndexOf(_model.TimeField);
        _keyIndexes = [.. _model.Key.Select(_model.IndexOf)];
        _modelNameBytes = Encoding.UTF8.GetBytes(_model.Name + "\0");
        _sourceSeed = (long)XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(source.Id));
        _steps = steps?.Where(s => s.AppliesTo(source, _model)).ToArray() ?? [];
        _hasContext = source.Context.Shop is not null || source.Context.Line is not null || source.Context.Station is not null;
    }

    public SourceDefinition Source => _source;

    public DataModel Model => _model;

    MessageView ITemplateScope.Message => _view;

    /// <summary>Runs the pipeline over a batch, appending records, dead letters, new avatars and links to <paramref name="output"/>.</summary>
    /// <param name="csvHeader">The header line of the stream, for formats whose streams begin with one (CSV).</param>
    public void Process(IReadOnlyList<RawMessage> messages, string streamId, AvatarRegistry avatars, PipelineOutput output, IReadOnlyList<string>? csvHeader = null)
    {
        _decoder.StartBatch(csvHeader);

        _batchIds.Clear();
        if (avatars.Version != _registryVersion)
        {
            _levels.Clear();
            _registryVersion = avatars.Version;
        }

        foreach (var msg in messages)
        {
            ProcessOne(msg, streamId, avatars, output);
        }
    }

    private void ProcessOne(in RawMessage msg, string streamId, AvatarRegistry avatars, PipelineOutput output)
    {
        _msg = msg;
        _streamId = streamId;
        _avatars = avatars;
        _output = output;
        _next = 0;
        _index = 0;
        _hasPayloadDigest = false;
        _rejected = false;
        _stage = DeadLetterStage.Decode;
        _claimedId = null;
        if (msg.Length > _source.MaxPayloadBytes)
        {
            ((IDecodedMessages)this).Reject($"payload of {msg.Length} bytes is over the limit of {_source.MaxPayloadBytes} bytes (maxPayloadBytes)");
            return;
        }

        try
        {
            _decoder.Decode(msg, this);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A decoder that throws fails the message it was reading (the one a retry is for, when it had not reached
            // it yet), or the whole payload when it handed over none.
            _stage = DeadLetterStage.Decode;
            var reason = $"unexpected error ({ex.GetType().Name}): {ex.Message}";
            if (_rejected)
            {
                return;
            }

            if (msg.OnlyIndex is { } retried && retried >= _next)
            {
                _next = retried;
                ((IDecodedMessages)this).AddInvalid(reason, ex);
            }
            else if (_next == 0)
            {
                ((IDecodedMessages)this).Reject(reason, ex);
            }
            else if (msg.OnlyIndex is null)
            {
                ((IDecodedMessages)this).AddInvalid(reason, ex);
            }

            return;
        }

        if (msg.OnlyIndex is { } only && only >= _next && !_rejected)
        {
            // A retry of one message of the payload, which no longer holds that many (it was edited).
            var reason = $"the payload now decodes to {_next} message(s); there is no message {only} to retry";
            _next = only;
            ((IDecodedMessages)this).AddInvalid(reason);
        }
    }

    void IDecodedMessages.Add(JsonElement message)
    {
        if (Take())
        {
            _view.SetJson(message, _msg.Topic);
            Run();
        }
    }

    void IDecodedMessages.Add(IReadOnlyDictionary<string, int> names, Scalar[] values)
    {
        if (Take())
        {
            _view.SetFields(names, values, _msg.Topic);
            Run();
        }
    }

    void IDecodedMessages.AddInvalid(string reason, Exception? error)
    {
        if (Take())
        {
            _output!.DeadLetters.Add(Dead(_msg, _streamId, DeadLetterStage.Decode, reason, error));
        }
    }

    void IDecodedMessages.Reject(string reason, Exception? error)
    {
        if (_next > 0 || _rejected)
        {
            throw new InvalidOperationException($"format {_source.Format} rejected a payload after handing over part of it; it reports a bad part with AddInvalid");
        }

        _rejected = true;
        _output!.Decoded++;
        _output.DeadLetters.Add(Dead(_msg, _streamId, DeadLetterStage.Decode, reason, error));
    }

    /// <summary>Gives the next message its index; false when a retry of one message skips it.</summary>
    private bool Take()
    {
        if (_rejected)
        {
            throw new InvalidOperationException($"format {_source.Format} handed over a message of a payload it rejected");
        }

        _index = _next++;
        if (_msg.OnlyIndex is { } only && only != _index)
        {
            return false;
        }

        _output!.Decoded++;
        _stage = DeadLetterStage.Decode;
        return true;
    }

    private void Run()
    {
        _claimedId = null;
        try
        {
            Build(_msg, _streamId, _avatars!, _output!);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // One message never takes its batch down: whatever a mapping, a pattern or a custom step throws on it,
            // it becomes a dead letter at the stage it reached and the rest of the batch goes on. Avatars it
            // created stay: the registry already holds them and the commit stores them.
            if (_claimedId is { } id)
            {
                _batchIds.Remove(id);
            }

            _output!.DeadLetters.Add(Dead(_msg, _streamId, _stage, $"unexpected error ({ex.GetType().Name}): {ex.Message}", ex));
        }
    }

    private void Build(in RawMessage msg, string streamId, AvatarRegistry avatars, PipelineOutput output)
    {
        var n = _mappings.Length;
        _values = new FieldValue[n];
        _plant = null;
        _contextDepth = 0;
        Array.Clear(_converted);
        _stage = DeadLetterStage.Map;

        // Map: every field's raw value first, so that templates and expressions can read any other field.
        for (var i = 0; i < n; i++)
        {
            try
            {
                _scalars[i] = _mappings[i].Evaluate(this);
            }
            catch (Exception ex) when (ex is FormatException or InvalidOperationException or KeyNotFoundException)
            {
                output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Map,
                    $"field '{_model.Fields[i].Name}' ({_mappings[i].Describe()}): {ex.Message}", ex));
                return;
            }
        }

        // Validate: type, required, range, enum, pattern. Every problem is reported, not just the first.
        _stage = DeadLetterStage.Validate;
        _problems.Clear();
        for (var i = 0; i < n; i++)
        {
            Convert(i);
        }

        if (_timeIndex >= 0 && _values[_timeIndex].IsNull && _problems.Count == 0)
        {
            _problems.Add($"event time field '{_model.TimeField}' is missing");
        }

        if (_problems.Count > 0)
        {
            output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Validate, string.Join("; ", _problems), null));
            return;
        }

        _stage = DeadLetterStage.Step;
        foreach (var step in _steps)
        {
            string? rejected;
            try
            {
                rejected = step.Process(new RecordDraft(_source, _model, _values, _view));
            }
            catch (Exception ex)
            {
                output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Step, $"step '{step.Name}' failed: {ex.Message}", ex));
                return;
            }

            if (rejected is not null)
            {
                output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Step, $"step '{step.Name}': {rejected}", null));
                return;
            }
        }

        // Contextualize: the plant hierarchy, then the avatar the record is about.
        _stage = DeadLetterStage.Contextualize;
        var eventTime = _values[_timeIndex].Timestamp;
        var plant = PlantOrNull(out var missing);
        if (plant is null)
        {
            output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Contextualize, $"plant '{_source.Plant.Text}' has no value: {missing} is empty or missing", null));
            return;
        }

        if (!AvatarRegistry.FitsId(plant))
        {
            output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Contextualize,
                $"plant '{_source.Plant.Text}' is {Encoding.UTF8.GetByteCount(plant)} bytes long; an avatar id is at most {AvatarRegistry.MaxIdBytes} bytes", null));
            return;
        }

        var newAvatars = output.NewAvatars;
        long parentKey;
        if (_levels.TryGetValue((0, plant), out var plantLevel))
        {
            parentKey = plantLevel.Key;
        }
        else
        {
            parentKey = avatars.Resolve(AvatarTypes.Plant, plant, plant, 0, eventTime, newAvatars);
            _levels[(0, plant)] = (parentKey, plant);
        }

        var path = plant;
        if (!Level(_source.Context.Shop, AvatarTypes.Shop, "shop", msg, streamId, output, avatars, plant, eventTime, ref path, ref parentKey)
            || !Level(_source.Context.Line, AvatarTypes.Line, "line", msg, streamId, output, avatars, plant, eventTime, ref path, ref parentKey)
            || !Level(_source.Context.Station, AvatarTypes.Station, "station", msg, streamId, output, avatars, plant, eventTime, ref path, ref parentKey))
        {
            return;
        }

        long avatarKey = 0;
        string? avatarId = null;
        if (_model.Avatar is { } binding)
        {
            avatarId = binding.Id.Render(this, out missing);
            if (avatarId is null)
            {
                output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Contextualize,
                    $"avatar id '{binding.Id.Text}' has no value: {missing} is empty or missing", null));
                return;
            }

            if (!AvatarRegistry.FitsId(avatarId))
            {
                output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Contextualize,
                    $"avatar id '{binding.Id.Text}' is {Encoding.UTF8.GetByteCount(avatarId)} bytes long; an avatar id is at most {AvatarRegistry.MaxIdBytes} bytes", null));
                return;
            }

            var parent = binding.Attach == AvatarAttach.Parent ? parentKey : 0;
            avatarKey = avatars.Resolve(binding.Type, avatarId, plant, parent, eventTime, newAvatars);
            if (binding.Attach == AvatarAttach.Link && _hasContext)
            {
                avatars.Link(avatarKey, "at", parentKey, eventTime, _source.Id, output.Links);
            }
        }

        var id = RecordId(msg, plant);
        if (!_batchIds.Add(id))
        {
            output.DuplicatesInBatch++;
            return;
        }

        _claimedId = id;

        // An attribute without a value in this record keeps the one it has.
        foreach (var attribute in _model.Avatar?.Attributes ?? [])
        {
            if (attribute.Value.Render(this, out _) is { } value)
            {
                avatars.SetAttribute(avatarKey, attribute.Name, value, eventTime, plant, _source.Id, output.Attributes);
            }
        }

        output.Records.Add(new Record
        {
            Model = _model,
            RecordId = id,
            SourceId = _source.Id,
            Plant = plant,
            Position = msg.Position,
            Index = _index,
            EventTime = eventTime,
            AvatarKey = avatarKey,
            AvatarId = avatarId,
            ContextKey = parentKey,
            Values = _values,
        });
        _claimedId = null;
    }

    private bool Level(Template? template, string type, string name, in RawMessage msg, string streamId, PipelineOutput output,
        AvatarRegistry avatars, string plant, DateTime seen, ref string path, ref long parentKey)
    {
        if (template is null)
        {
            return true;
        }

        var value = template.Render(this, out var missing);
        if (value is null)
        {
            output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Contextualize, $"{name} '{template.Text}' has no value: {missing} is empty or missing", null));
            return false;
        }

        if (_levels.TryGetValue((parentKey, value), out var known))
        {
            (parentKey, path) = known;
            return true;
        }

        path = string.Concat(path, "/", value);
        if (!AvatarRegistry.FitsId(path))
        {
            output.DeadLetters.Add(Dead(msg, streamId, DeadLetterStage.Contextualize,
                $"{name} '{template.Text}' makes an id of {Encoding.UTF8.GetByteCount(path)} bytes; an avatar id is at most {AvatarRegistry.MaxIdBytes} bytes", null));
            return false;
        }

        var key = avatars.Resolve(type, path, plant, parentKey, seen, output.NewAvatars);
        _levels[(parentKey, value)] = (key, path);
        parentKey = key;
        return true;
    }

    private string? PlantOrNull(out string? missing)
    {
        missing = null;
        return _plant ??= _source.Plant.Render(this, out missing);
    }

    string? ITemplateScope.Lookup(string name)
    {
        if (_fieldIndex.TryGetValue(name, out var i))
        {
            if (_converted[i])
            {
                return _values[i].IsNull ? null : _values[i].ToString();
            }

            return _view.Text(_scalars[i]);
        }

        // Context levels may read fields and fields may read context levels; a cycle stops here.
        if (++_contextDepth > 8)
        {
            throw new FormatException($"templates refer to each other in a cycle through '{name}'");
        }

        try
        {
            return name switch
            {
                "plant" => PlantOrNull(out _),
                "shop" => _source.Context.Shop?.Render(this, out _),
                "line" => _source.Context.Line?.Render(this, out _),
                "station" => _source.Context.Station?.Render(this, out _),
                "source" => _source.Id,
                _ => throw new FormatException($"'{{{name}}}' is neither a field of {_model.Ref} nor one of plant, shop, line, station, source"),
            };
        }
        finally
        {
            _contextDepth--;
        }
    }

    private void Convert(int i)
    {
        var f = _model.Fields[i];
        var s = _scalars[i];
        _converted[i] = true;
        if (s.IsAbsent)
        {
            if (f.Required)
            {
                _problems.Add($"field '{f.Name}' is required but {(s.Kind == ScalarKind.Null ? "null" : "missing")}");
            }

            return;
        }

        FieldValue v;
        switch (f.Type)
        {
            case FieldType.String:
                if (s.Kind is ScalarKind.Complex)
                {
                    _problems.Add($"field '{f.Name}' = {s.Describe()} is not a string");
                    return;
                }

                var text = _view.Text(s)!;
                if (text.Contains('\0', StringComparison.Ordinal))
                {
                    // Text reaches the store as C strings, which would end at the NUL: refused rather than cut.
                    _problems.Add($"field '{f.Name}' holds a NUL character (U+0000) at index {text.IndexOf('\0', StringComparison.Ordinal)}, which text fields cannot store");
                    return;
                }

                v = FieldValue.FromString(text);
                break;
            case FieldType.Double:
                if (!TryNumber(s, out var d))
                {
                    _problems.Add($"field '{f.Name}' = {s.Describe()} is not a number");
                    return;
                }

                if (!double.IsFinite(d))
                {
                    _problems.Add($"field '{f.Name}' = {s.Describe()} is not a finite number (beyond ±1.8e308, or NaN)");
                    return;
                }

                if (_converters[i] is { } conv)
                {
                    d = conv(d);
                    if (!double.IsFinite(d))
                    {
                        _problems.Add($"field '{f.Name}' = {s.Describe()} converted to {f.Unit} is not a finite number");
                        return;
                    }
                }

                v = FieldValue.FromDouble(d);
                break;
            case FieldType.Int:
                if (!TryInteger(s, out var l))
                {
                    _problems.Add($"field '{f.Name}' = {s.Describe()} is not an integer");
                    return;
                }

                v = FieldValue.FromInt(l);
                break;
            case FieldType.Bool:
                if (s.Kind == ScalarKind.True || (s.Kind == ScalarKind.String && IsTrue(s.AsText())))
                {
                    v = FieldValue.FromBool(true);
                }
                else if (s.Kind == ScalarKind.False || (s.Kind == ScalarKind.String && IsFalse(s.AsText())))
                {
                    v = FieldValue.FromBool(false);
                }
                else
                {
                    _problems.Add($"field '{f.Name}' = {s.Describe()} is not a boolean");
                    return;
                }

                break;
            default:
                if (!TryTimestamp(s, out var ts))
                {
                    _problems.Add($"field '{f.Name}' = {s.Describe()} is not a timestamp (ISO 8601, or epoch seconds or milliseconds)");
                    return;
                }

                v = FieldValue.FromTimestamp(ts);
                break;
        }

        if (f.Min is { } min || f.Max is not null)
        {
            var x = v.AsNumber();
            if (f.Min is { } lo && x < lo)
            {
                _problems.Add($"field '{f.Name}' = {Fmt(x)}{UnitSuffix(f)} is below the minimum {Fmt(lo)}");
                return;
            }

            if (f.Max is { } hi && x > hi)
            {
                _problems.Add($"field '{f.Name}' = {Fmt(x)}{UnitSuffix(f)} is above the maximum {Fmt(hi)}");
                return;
            }
        }

        if (f.EnumSet is { } allowed && v.Kind == ValueKind.String && !allowed.Contains(v.String!))
        {
            _problems.Add($"field '{f.Name}' = \"{Shown(v.String!)}\" is not one of {string.Join(", ", f.Enum!)}");
            return;
        }

        if (f.PatternRegex is { } re && v.Kind == ValueKind.String)
        {
            bool matches;
            try
            {
                matches = re.IsMatch(v.String!);
            }
            catch (RegexMatchTimeoutException)
            {
                _problems.Add($"field '{f.Name}' = \"{Shown(v.String!)}\": pattern {f.Pattern} took over {re.MatchTimeout.TotalMilliseconds:0} ms on this value "
                    + "(lookarounds and backreferences make a pattern slow; write it without them)");
                return;
            }

            if (!matches)
            {
                _problems.Add($"field '{f.Name}' = \"{Shown(v.String!)}\" does not match {f.Pattern}");
                return;
            }
        }

        _values[i] = v;
    }

    private static string UnitSuffix(FieldDefinition f) => f.Unit is null ? "" : " " + f.Unit;

    private static string Fmt(double d) => d.ToString("0.###", CultureInfo.InvariantCulture);

    private static bool IsTrue(string? s) => s is "true" or "True" or "TRUE" or "1" or "yes";

    private static bool IsFalse(string? s) => s is "false" or "False" or "FALSE" or "0" or "no";

    private static bool TryNumber(in Scalar s, out double d)
    {
        d = 0;
        if (s.Kind == ScalarKind.Number)
        {
            d = s.FromJson ? s.Element.GetDouble() : s.NumberValue;
            return true;
        }

        return s.Kind == ScalarKind.String
            && double.TryParse(s.AsText(), NumberStyles.Float, CultureInfo.InvariantCulture, out d);
    }

    private static bool TryInteger(in Scalar s, out long l)
    {
        l = 0;
        if (s.Kind == ScalarKind.Number)
        {
            if (s.FromJson)
            {
                return s.Element.TryGetInt64(out l);
            }

            l = (long)s.NumberValue;
            return l == s.NumberValue;
        }

        return s.Kind == ScalarKind.String && long.TryParse(s.AsText(), NumberStyles.Integer, CultureInfo.InvariantCulture, out l);
    }

    private static bool TryTimestamp(in Scalar s, out DateTime utc)
    {
        utc = default;
        if (s.Kind == ScalarKind.String)
        {
            if (s.FromJson && s.Element.TryGetDateTimeOffset(out var dto))
            {
                utc = dto.UtcDateTime;
                return true;
            }

            var text = s.AsText();
            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out dto))
            {
                utc = dto.UtcDateTime;
                return true;
            }

            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var num))
            {
                return FromEpoch(num, out utc);
            }

            return false;
        }

        if (s.Kind == ScalarKind.Number)
        {
            return FromEpoch(s.FromJson ? s.Element.GetDouble() : s.NumberValue, out utc);
        }

        return false;
    }

    // Epoch numbers above 1e11 are milliseconds (1e11 s is in the year 5138).
    private static bool FromEpoch(double n, out DateTime utc)
    {
        utc = default;
        var ms = Math.Abs(n) >= 1e11 ? n : n * 1000;
        if (!double.IsFinite(ms) || ms < -62135596800000 || ms > 253402300799000)
        {
            return false;
        }

        utc = DateTime.UnixEpoch.AddTicks((long)(ms * TimeSpan.TicksPerMillisecond));
        return true;
    }

    private Guid RecordId(in RawMessage msg, string plant)
    {
        // One static hash over a reused buffer: an XxHash128 instance per message allocated more than the
        // rest of the pipeline together.
        Span<byte> hash = stackalloc byte[16];
        // The plant is part of every id: a machine or meter name is often only unique within its plant.
        var len = _modelNameBytes.Length;
        _modelNameBytes.CopyTo(_hashBuffer, 0);
        EnsureHashRoom(len + Encoding.UTF8.GetMaxByteCount(plant.Length) + 1);
        len += Encoding.UTF8.GetBytes(plant, _hashBuffer.AsSpan(len));
        _hashBuffer[len++] = 0x1f;
        if (_keyIndexes.Length == 0)
        {
            // No natural key: the same payload from the same source and plant is the same fact, and so is the same
            // message of it. The first message hashes the payload itself, so that ids stay those stored before
            // payloads could hold several messages, and replaying those changes nothing. The later ones hash the
            // payload's digest, made once, and their index: hashing the whole payload for each of a Sparkplug
            // payload's hundred metrics cost more than the rest of the pipeline.
            if (_index == 0)
            {
                EnsureHashRoom(len + msg.Payload.Length);
                msg.Payload.Span.CopyTo(_hashBuffer.AsSpan(len));
                len += msg.Payload.Length;
            }
            else
            {
                if (!_hasPayloadDigest)
                {
                    XxHash128.Hash(msg.Payload.Span, _payloadDigest, _sourceSeed);
                    _hasPayloadDigest = true;
                }

                EnsureHashRoom(len + _payloadDigest.Length + 5);
                _payloadDigest.CopyTo(_hashBuffer, len);
                len += _payloadDigest.Length;
                _hashBuffer[len++] = 0x1f;
                BinaryPrimitives.WriteInt32LittleEndian(_hashBuffer.AsSpan(len), _index);
                len += 4;
            }

            XxHash128.Hash(_hashBuffer.AsSpan(0, len), hash, _sourceSeed);
            return new Guid(hash);
        }

        foreach (var k in _keyIndexes)
        {
            var v = _values[k];
            EnsureHashRoom(len + 10);
            _hashBuffer[len++] = (byte)v.Kind;
            switch (v.Kind)
            {
                case ValueKind.String:
                    var s = v.String!;
                    EnsureHashRoom(len + Encoding.UTF8.GetMaxByteCount(s.Length) + 1);
                    len += Encoding.UTF8.GetBytes(s, _hashBuffer.AsSpan(len));
                    break;
                case ValueKind.Double:
                    BinaryPrimitives.WriteDoubleLittleEndian(_hashBuffer.AsSpan(len), v.Double);
                    len += 8;
                    break;
                case ValueKind.Int or ValueKind.Bool:
                    BinaryPrimitives.WriteInt64LittleEndian(_hashBuffer.AsSpan(len), v.Int);
                    len += 8;
                    break;
                case ValueKind.Timestamp:
                    BinaryPrimitives.WriteInt64LittleEndian(_hashBuffer.AsSpan(len), v.Timestamp.Ticks);
                    len += 8;
                    break;
            }

            _hashBuffer[len++] = 0x1f;
        }

        XxHash128.Hash(_hashBuffer.AsSpan(0, len), hash);
        return new Guid(hash);
    }

    /// <summary>A value as a reason quotes it: whole up to 60 characters, like <see cref="Scalar.Describe"/>; the payload keeps the rest.</summary>
    private static string Shown(string value) => value.Length > 60 ? string.Concat(value.AsSpan(0, 57), "...") : value;

    private void EnsureHashRoom(int needed)
    {
        if (needed > _hashBuffer.Length)
        {
            Array.Resize(ref _hashBuffer, Math.Max(needed, _hashBuffer.Length * 2));
        }
    }

    private DeadLetter Dead(in RawMessage msg, string streamId, DeadLetterStage stage, string reason, Exception? ex)
    {
        var keep = Math.Min(msg.Payload.Length, _source.MaxPayloadBytes);
        return new DeadLetter
        {
            SourceId = _source.Id,
            StreamId = streamId,
            Position = msg.Position,
            Index = _rejected ? null : _index,
            ReceivedAt = msg.ReceivedAt,
            Stage = stage,
            Reason = reason,
            ErrorType = ex?.GetType().Name,
            Model = _model.Name,
            ModelVersion = _model.Version,
            Topic = msg.Topic,
            Payload = msg.Payload[..keep].ToArray(),
            PayloadBytes = msg.Length,
            Plant = PlantOf(stage, msg.Topic),
        };
    }

    /// <summary>
    /// The plant of a failed message, so that access by plant covers dead letters too: the source's own plant,
    /// or its template read from the message once it was decoded, or from the topic alone when the message could
    /// not be decoded; null when it cannot be told.
    /// </summary>
    private string? PlantOf(DeadLetterStage stage, string? topic)
    {
        if (_source.Plant.Constant is { } plant)
        {
            return plant;
        }

        if (stage == DeadLetterStage.Decode)
        {
            if (!_source.Plant.ReadsTopicOnly)
            {
                return null;
            }

            _view.SetUndecoded(topic);
            return _source.Plant.Render(this, out _) is { Length: > 0 } fromTopic ? fromTopic : null;
        }

        try
        {
            return PlantOrNull(out _) is { Length: > 0 } p ? p : null;
        }
        catch (Exception)
        {
            // The plant of a message that failed is a courtesy for access by plant; it never fails the batch.
            return null;
        }
    }
}
