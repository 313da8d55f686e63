^XA
^FX labels/wristband/v2: 1 in x 11 in wristband at 203 dpi (203 x 2235 dots), fed lengthwise; bilingual.^FS
^FX Chinese text in font 1: Zebra's Andale Mono Duo (ANMDJ.TTF, CJK) stored on the printer's E: drive.^FS
^CW1,E:ANMDJ.TTF
^FX Fields are rotated (R) to read along the band; content stays 30-200 mm from the leading edge.^FS
^CI28
^PW203
^LL2235
^LH0,0
^FO168,240^A1R,20,20^FH^FD临床试验受试者^FS
^FO168,400^A0R,20,18^FDTRIAL SUBJECT^FS
{% if label.subject_id_size == "long" %}
^FO112,240^A0R,44,34^FB400,1,0,L^FH^FD{{ label.subject_id }}^FS
{% else %}
^FO104,240^A0R,60,52^FB400,1,0,L^FH^FD{{ label.subject_id }}^FS
{% endif %}
^FO64,240^A1R,28,28^FH^FD缩写 {{ label.initials }}  出生年份 {{ label.birth_year }}^FS
^FO40,240^A0R,20,18^FH^FDInitials {{ label.initials }}   Born {{ label.birth_year }}^FS
^FO16,240^A0R,18,16^FH^FDLabel template {{ kind }}/{{ version }}^FS
{% set code128_at = 640 %}
{% set qr_at = code128_at + label.code128.width_dots + 40 %}
^BY{{ label.code128.module_dots }}
^FO72,{{ code128_at }}^BCR,96,N,N,N^FH^FD{{ label.code128.data }}^FS
^FO40,{{ code128_at }}^A0R,20,18^FH^FD{{ label.payload }}^FS
^FO56,{{ qr_at }}^BQN,2,{{ label.qr.module_dots }}^FH^FD{{ label.qr.data }}^FS
{% if label.reprint %}
{% set reprint_at = qr_at + label.qr.width_dots + 40 %}
^FO56,{{ reprint_at }}^GB92,200,92^FS
^FO64,{{ reprint_at }}^FR^A0R,34,30^FB200,1,0,C^FH^FDREPRINT {{ label.reprint }}^FS
{% endif %}
^PQ1
^XZ
