^XA
^FX labels/assignment/v2: 100 mm x 50 mm at 203 dpi (800 x 400 dots), bilingual. Never edit once used.^FS
^FX Chinese text in font 1: Zebra's Andale Mono Duo (ANMDJ.TTF, CJK) stored on the printer's E: drive.^FS
^CW1,E:ANMDJ.TTF
^CI28
^PW800
^LL400
^LH0,0
^FO24,20^A1N,24,24^FH^FD受试者分配^FS
^FO160,20^A0N,24,22^FDSUBJECT ASSIGNMENT^FS
^FO24,48^GB552,3,3^FS
^FO24,62^A1N,18,18^FH^FD受试者编号^FS
^FO130,62^A0N,18,16^FDSUBJECT ID^FS
{% if label.subject_id_size == "long" %}
^FO24,96^A0N,56,44^FB552,1,0,L^FH^FD{{ label.subject_id }}^FS
{% else %}
^FO24,84^A0N,80,68^FB552,1,0,L^FH^FD{{ label.subject_id }}^FS
{% endif %}
^FO24,172^A0N,32,28^FH^FDInitials {{ label.initials }}^FS
^FO280,172^A1N,28,28^FH^FD{{ label.visit_zh }}^FS
^FO280,204^A0N,20,18^FH^FD{{ label.visit }}^FS
^FO24,216^A1N,18,18^FH^FD身份链^FS
^FO100,216^A0N,18,16^FDCHAIN OF IDENTITY (COI)^FS
^FO24,240^A0N,34,28^FH^FD{{ label.coi }}^FS
^FO352,232^GB40,46,3^FS
^FO352,240^A0N,34,28^FB40,1,0,C^FH^FD{{ label.coi_check }}^FS
^FO24,298^A0N,26,22^FH^FDDIN {{ label.din }}^FS
^FO252,292^GB30,36,2^FS
^FO252,298^A0N,26,22^FB30,1,0,C^FH^FD{{ label.din_check }}^FS
^FO312,298^A0N,26,22^FH^FDProduct {{ label.product_code }}^FS
^FO616,20^BXN,{{ label.compound_datamatrix.module_dots }},200,0,0,6,_^FH^FD{{ label.compound_datamatrix.data }}^FS
{% if label.reprint %}
^FO592,216^GB184,48,48^FS
^FO592,226^FR^A0N,30,28^FB184,1,0,C^FH^FDREPRINT {{ label.reprint }}^FS
{% endif %}
^FO24,346^GB752,2,2^FS
^FO24,358^A1N,20,20^FH^FD剂量编号^FS
^FO120,358^A0N,20,18^FH^FDDose ID {{ label.dose_code }}^FS
^FO424,358^A0N,20,18^FB352,1,0,R^FH^FDLabel template {{ kind }}/{{ version }}^FS
^PQ1
^XZ
